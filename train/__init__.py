"""`python -m train`: the command-line front end of tf_diffaug (absl flags -> `td.experiment`)."""
