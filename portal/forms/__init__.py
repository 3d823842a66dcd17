"""Form pieces shared by several blueprints (each blueprint keeps its own forms.py)."""
