"""The asset list: make, model, serial, firmware, addresses, last seen (issue 13)."""
