"""Templates: what each one is (the catalog: transactional or marketing, its topic) and
how it renders for a customer (the renderer: Jinja2's sandbox, HTML autoescaped; layouts
and partials; a variant per locale; MJML compiled once; CSS inlined; the text part derived;
numbers and dates per locale). ``journeys templates check`` renders them all (checks.py)."""
