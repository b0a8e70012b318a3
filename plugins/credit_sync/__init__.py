"""credit-sync: 双公示 permit and penalty records from department databases to the credit platforms."""

__version__ = "0.1.0"
