"""The futures domain: raw captures, normalized 1-minute bars and daily bars for CL, NG and ES."""
