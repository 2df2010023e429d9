"""Datasets: loading .npz and tables, train/test splits and bundled demo data."""

from aiarmor.data.dataset import Dataset
from aiarmor.data.demo import load_digits_demo
from aiarmor.data.loading import load_dataset
from aiarmor.data.splits import train_test_split

__all__ = ["Dataset", "load_dataset", "load_digits_demo", "train_test_split"]
