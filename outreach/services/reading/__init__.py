"""Reading people, labels and addresses out of the free text of calendar events.

`names` knows what a person's name looks like (a first-name list and Russian
morphology), `labels` reads "Client: ..." fields of booking tools in several
languages, `layout` learns from a whole calendar which part of its titles is
the person. `client_matching` and `ics_import.places` use them.
"""
