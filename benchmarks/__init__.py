"""Speed and quality measurements, side by side in one run; each prints how it was obtained."""
