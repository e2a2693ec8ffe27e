"""Torch datasets and batching for token datasets."""

from audiotok.data.collate import PadCollate, pad_collate
from audiotok.data.npq import NpqWindowDataset
from audiotok.data.tokens import TokenDataset, load_token_dataset

__all__ = ["NpqWindowDataset", "PadCollate", "TokenDataset", "load_token_dataset", "pad_collate"]
