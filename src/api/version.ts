/** The API's version, as /api/health and the OpenAPI document give it. */
export const API_VERSION = '0.1.0';
