import { NS } from './xml';

/**
 * Where the SOAP service answers and how its SOAPActions begin: constants that the metrics, the CLI
 * and the service share. Here rather than in soapService.ts so that a process which never serves
 * SOAP (`worker`, the CLI's commands) does not load node-soap to learn them.
 */
export const SOAP_PATH = '/Remote/Services88/Webhook.svc';

export const SOAP_ACTION_BASE = `${NS.tns}/Webhook/`;
