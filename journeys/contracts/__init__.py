"""Sandbox-safe contracts: the types that cross between workflows and everything else
(events, customers, journey input and state, activity inputs and results, search
attributes, journey specs). Pure: no I/O, no database, no clock; the worker passes this
package, and no other project package but the engine's, through Temporal's sandbox.
"""
