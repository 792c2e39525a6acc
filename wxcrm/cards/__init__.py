"""Cards and card numbers, dynamic member codes, proof of presence for spending, loss and
replacement, store QR codes, scan-to-earn claims. ``cards`` resolves and manages cards;
crediting a claimed purchase is ``checkout``'s and ``benefits``' work."""
