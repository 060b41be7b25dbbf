"""The CDN of AEM as a Cloud Service in front of the balancer, run by Debian's Varnish: its
configuration (VCL) generated from topology.yaml (:mod:`lb.cdn.vcl`), and the process that
runs it (:mod:`lb.cdn.main`)."""
