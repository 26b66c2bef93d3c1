"""kwsapp's trainer: Speech Commands folder -> trained, exported keyword-spotting model."""
