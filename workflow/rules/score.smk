# (score) rules are added by the issue that builds this step.
