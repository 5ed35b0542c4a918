"""Review of many fractions: population statistics (M, Σ, σ), margin recipes and offline protocols."""
