/**
 * A local RDS API on loopback HTTP for the lookalike: the RDS Query protocol (form-encoded POST
 * `Action=…&Version=2014-10-31`, XML answers shaped as AWS sends them, which `@aws-sdk/client-rds` parses), every
 * request SigV4-checked against the lookalike's access keys. Actions are pluggable: `actions` maps an action name
 * to a handler returning the XML inside `<ActionResult>`, so each lookalike shape (custom endpoints, global
 * databases) registers what it answers. Point the SDK at `endpoint` (the wrapper's RDS endpoint option).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SigV4Error, verifySignedRequest } from './sigv4.js';

export const RDS_API_VERSION = '2014-10-31';
const XMLNS = `http://rds.amazonaws.com/doc/${RDS_API_VERSION}/`;
/** AWS refuses requests signed more than 15 minutes away from its clock. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

/** One authenticated request, as a handler sees it. */
export interface RdsApiRequest {
  readonly action: string;
  /** The decoded form parameters (Action and Version included). */
  readonly params: URLSearchParams;
  readonly accessKeyId: string;
  readonly region: string;
}

/** Returns the XML inside `<{Action}Result>` (empty string for none); throw RdsApiError for an AWS error answer. */
export type RdsActionHandler = (request: RdsApiRequest) => string | Promise<string>;

/** An error answered in AWS's XML error shape (`<ErrorResponse><Error><Code>…`). */
export class RdsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message);
  }
}

/** What the server saw, for tests and `status` output (no secrets). */
export interface RdsApiCall {
  readonly action: string;
  readonly status: number;
  readonly errorCode?: string;
  readonly at: number;
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** `<name>value</name>`, or nothing when the value is undefined. */
export function xmlElement(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** A list the Query protocol's way: `<name><member>…</member>…</name>` (members already XML). */
export function xmlList(name: string, memberName: string, membersXml: readonly string[]): string {
  return `<${name}>${membersXml.map((m) => `<${memberName}>${m}</${memberName}>`).join('')}</${name}>`;
}

/** `Filters.Filter.N.Name` / `Filters.Filter.N.Values.Value.M` (RDS's list member names) → name → values. */
export function queryFilters(params: URLSearchParams): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (let n = 1; params.has(`Filters.Filter.${n}.Name`); n++) {
    const values: string[] = [];
    for (let m = 1; params.has(`Filters.Filter.${n}.Values.Value.${m}`); m++)
      values.push(params.get(`Filters.Filter.${n}.Values.Value.${m}`)!);
    filters.set(params.get(`Filters.Filter.${n}.Name`)!, values);
  }
  return filters;
}

function amzDateMs(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : undefined;
}

export class RdsApiServer {
  /** Action name → handler. Unknown actions get AWS's `InvalidAction`. */
  readonly actions = new Map<string, RdsActionHandler>();
  /** Access key id → secret access key of the signers accepted. */
  readonly accessKeys = new Map<string, string>();
  /** The last requests (bounded), newest last. */
  readonly calls: RdsApiCall[] = [];
  private server: http.Server | undefined;

  /** `region`: the region requests must be signed for (as the real regional endpoint checks). */
  constructor(readonly region: string) {}

  get endpoint(): string {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) throw new Error('the RDS API server is not running');
    return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async start(host = '127.0.0.1', port = 0): Promise<this> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private record(call: RdsApiCall): void {
    this.calls.push(call);
    if (this.calls.length > 1000) this.calls.splice(0, this.calls.length - 1000);
  }

  private async handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const form = new URLSearchParams(body.toString('utf8'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    for (const [k, v] of url.searchParams) if (!form.has(k)) form.set(k, v);
    const action = form.get('Action') ?? '';
    const send = (status: number, xml: string, errorCode?: string): void => {
      this.record({ action, status, errorCode, at: Date.now() });
      res
        .writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
        .end(`<?xml version="1.0"?>\n${xml}\n`);
    };
    const fail = (e: RdsApiError): void =>
      send(
        e.status,
        `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${e.type}</Type><Code>${xmlEscape(e.code)}</Code><Message>${xmlEscape(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        e.code,
      );
    try {
      let signer: { accessKeyId: string; region: string; service: string };
      try {
        signer = verifySignedRequest(
          {
            method: req.method ?? 'POST',
            path: url.pathname,
            query: [...url.searchParams],
            headers: req.headers,
            body,
          },
          (id) => this.accessKeys.get(id),
        );
      } catch (err) {
        if (err instanceof SigV4Error)
          throw new RdsApiError(
            err.code,
            err.message,
            err.code === 'MissingAuthenticationToken' || err.code === 'IncompleteSignature' ? 400 : 403,
          );
        throw err;
      }
      if (signer.service !== 'rds')
        throw new RdsApiError('SignatureDoesNotMatch', `Credential should be scoped to correct service: 'rds'.`, 403);
      if (signer.region !== this.region)
        throw new RdsApiError(
          'SignatureDoesNotMatch',
          `Credential should be scoped to a valid region, not '${signer.region}'.`,
          403,
        );
      const signedAt = amzDateMs(String(req.headers['x-amz-date'] ?? ''));
      if (signedAt === undefined || Math.abs(Date.now() - signedAt) > MAX_CLOCK_SKEW_MS) {
        throw new RdsApiError('RequestExpired', 'Request has expired or is signed too far from the server time.', 400);
      }
      if (req.method !== 'POST' && req.method !== 'GET')
        throw new RdsApiError('InvalidAction', `HTTP method ${String(req.method)} is not supported`);
      if (form.get('Version') !== RDS_API_VERSION)
        throw new RdsApiError(
          'InvalidParameterValue',
          `Version '${form.get('Version') ?? ''}' is not supported: expected ${RDS_API_VERSION}`,
        );
      const handler = this.actions.get(action);
      if (handler === undefined)
        throw new RdsApiError('InvalidAction', `The action ${action || '(none)'} is not valid for this web service.`);
      const inner = await handler({ action, params: form, accessKeyId: signer.accessKeyId, region: signer.region });
      send(
        200,
        `<${action}Response xmlns="${XMLNS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (err) {
      fail(
        err instanceof RdsApiError ? err : new RdsApiError('InternalFailure', (err as Error).message, 500, 'Receiver'),
      );
    }
  }
}

// ---- DescribeDBClusterEndpoints ---------------------------------------------------------------------------------

/** One cluster endpoint as DescribeDBClusterEndpoints reports it. */
export interface ClusterEndpointRecord {
  /** CUSTOM endpoints only (AWS reports the writer and reader endpoints without one). */
  readonly identifier?: string;
  readonly clusterIdentifier: string;
  readonly endpoint: string;
  readonly endpointType: 'WRITER' | 'READER' | 'CUSTOM';
  /** CUSTOM endpoints only. */
  readonly customEndpointType?: 'READER' | 'ANY';
  readonly staticMembers?: readonly string[];
  readonly excludedMembers?: readonly string[];
  readonly resourceIdentifier?: string;
  readonly arn?: string;
}

const ENDPOINT_FILTERS = [
  'db-cluster-endpoint-type',
  'db-cluster-endpoint-custom-type',
  'db-cluster-endpoint-status',
  'db-cluster-identifier',
];

function endpointXml(e: ClusterEndpointRecord): string {
  const members = (name: string, list: readonly string[] | undefined) =>
    list === undefined ? '' : xmlList(name, 'member', list.map(xmlEscape));
  return [
    xmlElement('DBClusterEndpointIdentifier', e.identifier),
    xmlElement('DBClusterIdentifier', e.clusterIdentifier),
    xmlElement('DBClusterEndpointResourceIdentifier', e.resourceIdentifier),
    xmlElement('Endpoint', e.endpoint),
    xmlElement('Status', 'available'),
    xmlElement('EndpointType', e.endpointType),
    xmlElement('CustomEndpointType', e.customEndpointType),
    members('StaticMembers', e.staticMembers),
    members('ExcludedMembers', e.excludedMembers),
    xmlElement('DBClusterEndpointArn', e.arn),
  ].join('');
}

/**
 * The DescribeDBClusterEndpoints handler over `endpoints()` (read per request): DBClusterIdentifier,
 * DBClusterEndpointIdentifier and the Filters AWS documents for this action; no paging (MaxRecords honoured).
 */
export function describeDbClusterEndpoints(endpoints: () => readonly ClusterEndpointRecord[]): RdsActionHandler {
  return ({ params }) => {
    const clusterId = params.get('DBClusterIdentifier');
    const endpointId = params.get('DBClusterEndpointIdentifier');
    const filters = queryFilters(params);
    for (const name of filters.keys()) {
      if (!ENDPOINT_FILTERS.includes(name))
        throw new RdsApiError(
          'InvalidParameterValue',
          `Unrecognized filter name: ${name}. Valid: ${ENDPOINT_FILTERS.join(', ')}`,
        );
    }
    const all = endpoints();
    if (clusterId !== null && !all.some((e) => e.clusterIdentifier === clusterId)) {
      throw new RdsApiError('DBClusterNotFoundFault', `DBCluster ${clusterId} not found.`, 404);
    }
    const matches = (name: string, value: string | undefined) => {
      const wanted = filters.get(name);
      return (
        wanted === undefined || (value !== undefined && wanted.some((w) => w.toLowerCase() === value.toLowerCase()))
      );
    };
    const maxRecords = Number(params.get('MaxRecords') ?? 100);
    if (!Number.isInteger(maxRecords) || maxRecords < 20 || maxRecords > 100) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `MaxRecords must be an integer from 20 to 100, got ${params.get('MaxRecords')}`,
      );
    }
    const found = all
      .filter(
        (e) =>
          (clusterId === null || e.clusterIdentifier === clusterId) &&
          (endpointId === null || e.identifier === endpointId),
      )
      .filter(
        (e) =>
          matches('db-cluster-endpoint-type', e.endpointType) &&
          matches('db-cluster-endpoint-custom-type', e.customEndpointType) &&
          matches('db-cluster-endpoint-status', 'available') &&
          matches('db-cluster-identifier', e.clusterIdentifier),
      )
      .slice(0, maxRecords);
    return xmlList('DBClusterEndpoints', 'DBClusterEndpointList', found.map(endpointXml));
  };
}

// ---- DescribeGlobalClusters ------------------------------------------------------------------------------------

/** One global database as DescribeGlobalClusters reports it. */
export interface GlobalClusterRecord {
  readonly identifier: string;
  /** The `global-` writer endpoint. */
  readonly endpoint: string;
  readonly engine: string;
  readonly members: readonly {
    readonly dbClusterArn: string;
    readonly isWriter: boolean;
    readonly readers: readonly string[];
  }[];
}

/** The DescribeGlobalClusters handler over `clusters()` (read per request): GlobalClusterIdentifier; no paging. */
export function describeGlobalClusters(clusters: () => readonly GlobalClusterRecord[]): RdsActionHandler {
  return ({ params }) => {
    const id = params.get('GlobalClusterIdentifier');
    if (queryFilters(params).size > 0)
      throw new RdsApiError(
        'InvalidParameterValue',
        'DescribeGlobalClusters: filters are not supported by the lookalike',
      );
    const all = clusters();
    const found = all.filter((g) => id === null || g.identifier === id);
    if (id !== null && found.length === 0)
      throw new RdsApiError('GlobalClusterNotFoundFault', `Global cluster ${id} not found.`, 404);
    const memberXml = (m: GlobalClusterRecord['members'][number]): string =>
      xmlElement('DBClusterArn', m.dbClusterArn) +
      xmlList('Readers', 'member', m.readers.map(xmlEscape)) +
      xmlElement('IsWriter', m.isWriter) +
      xmlElement('GlobalWriteForwardingStatus', 'disabled');
    const clusterXml = (g: GlobalClusterRecord): string =>
      xmlElement('GlobalClusterIdentifier', g.identifier) +
      xmlElement('GlobalClusterArn', `arn:aws:rds::123456789012:global-cluster:${g.identifier}`) +
      xmlElement('Status', 'available') +
      xmlElement('Engine', g.engine) +
      xmlList('GlobalClusterMembers', 'GlobalClusterMember', g.members.map(memberXml)) +
      xmlElement('Endpoint', g.endpoint);
    return xmlList('GlobalClusters', 'GlobalClusterMember', found.map(clusterXml));
  };
}
