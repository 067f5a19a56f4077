"""The models room: the family registry, devices, model loading and its errors, styles, safety."""
