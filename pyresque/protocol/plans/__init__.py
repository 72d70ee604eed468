"""Protocol operations as command plans, shared by the async and the sync clients."""
