"""SCRAPS: Speech Contrastive Representations of Acoustic and Phonetic Spaces (arXiv 2307.12445)."""
__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy so that `import scraps.text` does not pull in torch models, and vice versa.
    if name == "ScrapsModel":
        from scraps.model import ScrapsModel

        return ScrapsModel
    if name == "TextFrontend":
        from scraps.text import TextFrontend

        return TextFrontend
    raise AttributeError(f"module 'scraps' has no attribute {name!r}")
