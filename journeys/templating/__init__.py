"""Templates: what each one is (the catalog: transactional or marketing, its topic) and
how it renders for a customer (Jinja2's sandbox, HTML autoescaped)."""
