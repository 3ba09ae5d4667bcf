import { Injectable } from '@nestjs/common';
import type { DeliveryState, TargetType } from '@borealis/contracts';
import { Delivery, statesThatCanBecome } from '../domain/delivery-state';
import type { Sql } from './push-db';

/** A delivery with what the transport needs to hand it to the device. */
export interface OutboundDelivery {
  messageId: string;
  deviceId: string;
  applicationId: string;
  registrationId: string;
  title: string;
  message: string;
  data: string | null;
  expiresAtMs: number;
}

export interface FanOutMessage {
  id: string;
  projectId: string;
  targetType: TargetType;
  targetValue: string;
  acceptedAtMs: number;
  expiresAtMs: number;
}

export interface RecipientRow {
  registrationId: string;
  state: DeliveryState;
  updatedAtMs: number;
  expiresAtMs: number;
}

interface OutboundRow {
  message_id: string;
  device_id: string;
  application_id: string;
  registration_id: string;
  title: string;
  body: string;
  data: string | null;
  expires_at_ms: string;
}

const OUTBOUND_SELECT = `
  SELECT d.message_id, d.device_id, d.application_id, d.registration_id, m.title, m.body, m.data, d.expires_at_ms
    FROM deliveries d JOIN messages m ON m.id = d.message_id`;
/** Per device, acceptance order: when the gateway accepted the message, then its (time-ordered) id. */
const ACCEPTANCE_ORDER = 'ORDER BY d.device_id, d.accepted_at_ms, d.message_id';

function toOutbound(row: OutboundRow): OutboundDelivery {
  return {
    messageId: row.message_id,
    deviceId: row.device_id,
    applicationId: row.application_id,
    registrationId: row.registration_id,
    title: row.title,
    message: row.body,
    data: row.data,
    expiresAtMs: Number(row.expires_at_ms),
  };
}

@Injectable()
export class DeliveryRepository {
  /**
   * Creates a pending delivery for every live registration each message targets (its one
   * registration, every registration of the application, or every subscriber of the topic), only
   * within the message's project and only for active applications. Idempotent. Returns the number
   * of deliveries created per message.
   */
  async fanOut(sql: Sql, messages: readonly FanOutMessage[], nowMs: number): Promise<Map<string, number>> {
    if (messages.length === 0) return new Map();
    const rows = await sql<{ message_id: string; n: number }>(
      `WITH m AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
           AS m(id, project_id, target_type, target_value, accepted_at_ms, expires_at_ms)
       ), recipient AS (
         SELECT m.*, r.id AS registration_id, r.device_id, r.application_id
           FROM m JOIN registrations r ON r.id = m.target_value AND r.project_id = m.project_id
          WHERE m.target_type = 'device' AND r.unregistered_at_ms IS NULL
         UNION ALL
         SELECT m.*, r.id, r.device_id, r.application_id
           FROM m JOIN registrations r ON r.project_id = m.project_id AND r.application_id = m.target_value
          WHERE m.target_type = 'application' AND r.unregistered_at_ms IS NULL
         UNION ALL
         SELECT m.*, r.id, r.device_id, r.application_id
           FROM m JOIN registration_topics t ON t.project_id = m.project_id AND t.topic = m.target_value
                  JOIN registrations r ON r.id = t.registration_id
          WHERE m.target_type = 'topic' AND r.unregistered_at_ms IS NULL
       ), inserted AS (
         INSERT INTO deliveries (message_id, registration_id, project_id, device_id, application_id, state,
                                 accepted_at_ms, expires_at_ms, updated_at_ms)
         SELECT x.id, x.registration_id, x.project_id, x.device_id, x.application_id, $7, x.accepted_at_ms, x.expires_at_ms, $8
           FROM recipient x
           JOIN registry_applications a ON a.id = x.application_id AND a.project_id = x.project_id AND a.is_active
         ON CONFLICT (message_id, registration_id) DO NOTHING
         RETURNING message_id
       )
       SELECT message_id, count(*)::int AS n FROM inserted GROUP BY message_id`,
      [
        messages.map((m) => m.id),
        messages.map((m) => m.projectId),
        messages.map((m) => m.targetType),
        messages.map((m) => m.targetValue),
        messages.map((m) => m.acceptedAtMs),
        messages.map((m) => m.expiresAtMs),
        Delivery.pending,
        nowMs,
      ],
    );
    return new Map(rows.map((r) => [r.message_id, r.n]));
  }

  /** The unexpired deliveries of these messages that are in one of `states`. */
  async outboundOfMessages(sql: Sql, messageIds: readonly string[], states: readonly DeliveryState[], nowMs: number): Promise<OutboundDelivery[]> {
    if (messageIds.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT} WHERE d.message_id = ANY($1) AND d.state = ANY($2) AND d.expires_at_ms > $3 ${ACCEPTANCE_ORDER}`,
      [messageIds, states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /** The unexpired deliveries of these devices that are in one of `states`, in acceptance order. */
  async outboundOfDevices(sql: Sql, deviceIds: readonly string[], states: readonly DeliveryState[], nowMs: number): Promise<OutboundDelivery[]> {
    if (deviceIds.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT} WHERE d.device_id = ANY($1) AND d.state = ANY($2) AND d.expires_at_ms > $3 ${ACCEPTANCE_ORDER}`,
      [deviceIds, states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /** Like `outboundOfDevices`, restricted to the given (device, message) pairs. */
  async outboundOfPairs(
    sql: Sql,
    pairs: readonly { deviceId: string; messageId: string }[],
    states: readonly DeliveryState[],
    nowMs: number,
  ): Promise<OutboundDelivery[]> {
    if (pairs.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT}
         JOIN unnest($1::text[], $2::text[]) AS p(device_id, message_id) ON p.device_id = d.device_id AND p.message_id = d.message_id
        WHERE d.state = ANY($3) AND d.expires_at_ms > $4 ${ACCEPTANCE_ORDER}`,
      [pairs.map((p) => p.deviceId), pairs.map((p) => p.messageId), states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /**
   * Moves this device's deliveries of these messages to `to`, from whichever states the lifecycle
   * allows (never out of a terminal state). Deliveries of other devices are untouched.
   */
  async transition(sql: Sql, deviceId: string, messageIds: readonly string[], to: DeliveryState, nowMs: number): Promise<number> {
    const rows = await sql<{ message_id: string }>(
      `UPDATE deliveries SET state = $3, updated_at_ms = $5
        WHERE device_id = $1 AND message_id = ANY($2) AND state = ANY($4)
        RETURNING message_id`,
      [deviceId, messageIds, to, statesThatCanBecome(to), nowMs],
    );
    return rows.length;
  }

  /** Records the expiry of these devices' deliveries whose TTL has passed. */
  async expireDue(sql: Sql, deviceIds: readonly string[], nowMs: number): Promise<void> {
    if (deviceIds.length === 0) return;
    await sql(
      `UPDATE deliveries SET state = $2, updated_at_ms = $4
        WHERE device_id = ANY($1) AND state = ANY($3) AND expires_at_ms <= $4`,
      [deviceIds, Delivery.expired, statesThatCanBecome(Delivery.expired), nowMs],
    );
  }

  /** A registration that goes away fails its deliveries that have not reached the device. */
  async failOpenOfRegistrations(sql: Sql, registrationIds: readonly string[], nowMs: number): Promise<void> {
    if (registrationIds.length === 0) return;
    await sql(
      `UPDATE deliveries SET state = $2, updated_at_ms = $4 WHERE registration_id = ANY($1) AND state = ANY($3)`,
      [registrationIds, Delivery.failed, statesThatCanBecome(Delivery.failed), nowMs],
    );
  }

  /** Counts per stored state, split by whether the TTL has passed (read-time expiry). */
  async stateCounts(sql: Sql, projectId: string, messageId: string, nowMs: number): Promise<{ state: DeliveryState; pastExpiry: boolean; n: number }[]> {
    const rows = await sql<{ state: DeliveryState; past_expiry: boolean; n: number }>(
      `SELECT state, expires_at_ms <= $3 AS past_expiry, count(*)::int AS n
         FROM deliveries WHERE project_id = $1 AND message_id = $2
        GROUP BY 1, 2`,
      [projectId, messageId, nowMs],
    );
    return rows.map((r) => ({ state: r.state, pastExpiry: r.past_expiry, n: r.n }));
  }

  async recipients(sql: Sql, projectId: string, messageId: string, limit: number): Promise<RecipientRow[]> {
    const rows = await sql<{ registration_id: string; state: DeliveryState; updated_at_ms: string; expires_at_ms: string }>(
      `SELECT registration_id, state, updated_at_ms, expires_at_ms
         FROM deliveries WHERE project_id = $1 AND message_id = $2
        ORDER BY registration_id LIMIT $3`,
      [projectId, messageId, limit],
    );
    return rows.map((r) => ({
      registrationId: r.registration_id,
      state: r.state,
      updatedAtMs: Number(r.updated_at_ms),
      expiresAtMs: Number(r.expires_at_ms),
    }));
  }
}
