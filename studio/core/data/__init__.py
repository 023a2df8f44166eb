"""Datasets: the source catalogue, loading into tensors, splits, statistics and fast batches."""

from studio.core.data.catalogue import SOURCES, SourceInfo, get_source
from studio.core.data.dataset import Dataset, RawData, Split
from studio.core.data.loading import load_dataset, load_project_data

__all__ = [
    "SOURCES",
    "Dataset",
    "RawData",
    "SourceInfo",
    "Split",
    "get_source",
    "load_dataset",
    "load_project_data",
]
