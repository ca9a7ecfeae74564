"""One module per report page: each function takes the notebook's Context and returns a Chart or a table."""
