"""The portal's pages: one module each, one `render(user, ctx)` function each (see portal_ui.navigation)."""
