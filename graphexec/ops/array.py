"""(being written)"""

__all__: list[str] = []


def getitem(x, key):
    raise NotImplementedError
