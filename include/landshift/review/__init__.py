"""Layer 9: analyst review of published products: the queue, decisions in the lake, the reviewed product."""
