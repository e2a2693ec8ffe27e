"""PyTorch datasets over audiotok's on-disk formats, and batching."""

from audiotok.data.collate import PadCollate, pad_collate
from audiotok.data.esf import EsfDataset
from audiotok.data.npq import NpqWindowDataset
from audiotok.data.tokens import TokenDataset, load_token_dataset

__all__ = [
    "EsfDataset",
    "NpqWindowDataset",
    "PadCollate",
    "TokenDataset",
    "load_token_dataset",
    "pad_collate",
]
