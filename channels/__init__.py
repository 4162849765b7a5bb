"""Channel adapters: each turns platform events into `Inbound`s and renders `Reply`s."""
