import { Body, Controller, Header, HttpCode, Post } from '@nestjs/common';
import { TokenService, type TokenResponse } from './token.service';

@Controller('auth/public/oauth2')
export class TokenController {
  constructor(private readonly tokens: TokenService) {}

  /** The body arrives parsed from JSON or form-urlencoded (the platform's parsers). */
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  token(@Body() body: unknown): Promise<TokenResponse> {
    return this.tokens.issue(body);
  }
}
