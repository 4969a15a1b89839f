"""``python -m annotool`` (also what ``torchrun -m annotool`` runs)."""

from annotool.cli import run

if __name__ == "__main__":
    run()
