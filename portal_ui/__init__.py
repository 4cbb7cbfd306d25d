"""Streamlit building blocks shared by the portal's pages (sign-in gate, navigation, widgets).

Rules and queries live in `shared/`; this package only draws them.
"""
