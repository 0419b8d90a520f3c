"""Quantized weights: codes read from a GGUF file's blocks (blocks.py), packed for the decoding
kernel and run as linear layers (linear.py)."""
