"""The e-commerce domain, built on the public shoplake API only."""
