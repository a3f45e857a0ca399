"""The risk API's own modules: requests, errors, roles, the service and its documentation."""
