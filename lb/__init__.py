"""The edge: a sticky-session load balancer (``python -m lb``) and the dispatchers in front of
each publisher (``python -m lb.dispatcher --id d1``), modelled on AWS ALB and AEM's dispatcher
(docs/edge.md).
"""
