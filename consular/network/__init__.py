"""The protection network: divisions, liaison points, overseas stations, missions, the centre."""
