"""``python -m annotool`` (also what ``torchrun -m annotool`` runs)."""

from annotool.cli import main

if __name__ == "__main__":
    main()
