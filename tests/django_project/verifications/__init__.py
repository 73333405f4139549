"""An app of the test project that acts on verification results, as a user's app would."""
