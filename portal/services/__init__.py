"""Services: plain functions that own every state change. Each use case commits once, at its end."""
