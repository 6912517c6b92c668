export { buildFerrySchema, type Gateway, type GatewayOptions, schemaSdl, startGateway } from './server.js';
export { FerryService, ServiceError } from './service.js';
