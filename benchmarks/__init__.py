"""ADC-Bench performance benchmarks (see README.md)."""
