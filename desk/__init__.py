"""The review desk in the browser: reviewers sign in by e-mailed link, read and decide."""
