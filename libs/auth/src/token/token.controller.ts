import { Body, Controller, Header, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TokenRateLimited, TokenRateLimits } from './token-rate-limits';
import { TokenService, type TokenResponse } from './token.service';

@Controller('auth/public/oauth2')
export class TokenController {
  constructor(
    private readonly tokens: TokenService,
    private readonly rateLimits: TokenRateLimits,
  ) {}

  /** The body arrives parsed from JSON or form-urlencoded (the platform's parsers). */
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  async token(@Body() body: unknown, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenResponse> {
    try {
      await this.rateLimits.perIp(request.ip);
      const form = (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
      return await this.tokens.issue(body, form ? 'form' : 'json');
    } catch (err) {
      // The platform's filter renders OAuth errors; the header it cannot know is set here.
      if (err instanceof TokenRateLimited) void reply.header('retry-after', String(err.retryAfterSeconds));
      throw err;
    }
  }
}
