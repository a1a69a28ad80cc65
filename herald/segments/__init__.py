"""Segmentation: definitions compiled to SQL, membership kept current, recomputes."""
