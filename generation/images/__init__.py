"""The images room: safe decode, encode, sizing, masks, canny, outpaint canvases; no requests."""
