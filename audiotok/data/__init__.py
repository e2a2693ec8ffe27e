"""PyTorch datasets over audiotok's on-disk formats."""

from audiotok.data.esf import EsfDataset

__all__ = ["EsfDataset"]
