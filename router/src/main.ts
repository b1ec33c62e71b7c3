// The router's entry point (placeholder until the router lands: [G]).
export {};
