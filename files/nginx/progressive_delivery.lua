-- Copyright (c) 2026, progressive.delivery contributors
-- GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- progressive.delivery canary_shift, nginx_mode=runtime: weights without reloads (files/nginx/README.md).
--
-- Weights live in lua_shared_dict progressive_delivery_weights, one string per upstream ("ADDR=W;ADDR=W"), so
-- that one dict:set changes them all at once (make-before-break is then trivially true: there is no
-- intermediate state). balance(name) picks the peer of each request (smooth weighted round robin, per worker);
-- admin() is the JSON admin endpoint (GET/PUT /upstreams/<name>) that canary_shift talks to.
--
-- init_by_lua_block { progressive_delivery = require("progressive_delivery").new({["app"] = {"IP:PORT", ...}}) }
-- The declared list is re-applied on every start and reload; weights of servers still declared are kept.
local M = {}

function M.new(declared)
    local balancer = require "ngx.balancer"
    local dict = ngx.shared.progressive_delivery_weights
    -- upstream name -> its servers ("IP:PORT"); the admin API can change their weights, not the list
    local pd = {declared = declared}
    local cache = {}

    local function decode(raw)
        local weights = {}
        for addr, weight in string.gmatch(raw or "", "([^;=]+)=(%d+)") do
            weights[addr] = tonumber(weight)
        end
        return weights
    end

    local function encode(name, weights)
        local parts = {}
        for _, addr in ipairs(pd.declared[name]) do
            parts[#parts + 1] = addr .. "=" .. weights[addr]
        end
        return table.concat(parts, ";")
    end

    for name, members in pairs(pd.declared) do
        local kept = decode(dict:get(name))
        local weights = {}
        for _, addr in ipairs(members) do
            weights[addr] = kept[addr] or 1
        end
        dict:set(name, encode(name, weights))
    end

    local function peers(name)
        local raw = dict:get(name)
        local state = cache[name]
        if state and state.raw == raw then
            return state
        end
        local weights = decode(raw)
        state = {raw = raw, peers = {}, live = 0}
        for _, addr in ipairs(pd.declared[name] or {}) do
            local host, port = addr:match("^(.*):(%d+)$")
            local weight = weights[addr] or 0
            state.peers[#state.peers + 1] = {
                addr = addr, host = host, port = tonumber(port), weight = weight, current = 0,
            }
            if weight > 0 then
                state.live = state.live + 1
            end
        end
        cache[name] = state
        return state
    end

    -- smooth weighted round robin (as nginx's own upstream): exact shares, weight 0 never chosen
    local function pick(state, skip)
        local best, total = nil, 0
        for _, peer in ipairs(state.peers) do
            if peer.weight > 0 and not skip[peer.addr] then
                peer.current = peer.current + peer.weight
                total = total + peer.weight
                if best == nil or peer.current > best.current then
                    best = peer
                end
            end
        end
        if best then
            best.current = best.current - total
        end
        return best
    end

    function pd.balance(name)
        local state = peers(name)
        local ctx = ngx.ctx
        local tried = ctx.progressive_delivery_tried
        if tried == nil then
            tried = {}
            ctx.progressive_delivery_tried = tried
            if state.live > 1 then
                balancer.set_more_tries(1)
            end
        end
        local peer = pick(state, tried) or pick(state, {})
        if peer == nil then
            ngx.log(ngx.ERR, "progressive.delivery: every server of upstream ", name, " has weight 0")
            return ngx.exit(502)
        end
        tried[peer.addr] = true
        local ok, err = balancer.set_current_peer(peer.host, peer.port)
        if not ok then
            ngx.log(ngx.ERR, "progressive.delivery: cannot set peer ", peer.addr, ": ", err)
            return ngx.exit(502)
        end
    end

    local function reply(status, body)
        ngx.status = status
        ngx.header["Content-Type"] = "application/json"
        ngx.say(body)
        return ngx.exit(status)
    end

    local function state_json(name)
        local weights = decode(dict:get(name))
        local parts = {}
        for _, addr in ipairs(pd.declared[name]) do
            parts[#parts + 1] = '"' .. addr .. '": ' .. weights[addr]
        end
        return '{"upstream": "' .. name .. '", "servers": {' .. table.concat(parts, ", ") .. '}}'
    end

    -- body: {"servers": {"ADDR": WEIGHT, ...}} (a flat JSON object of integers; no cjson needed)
    local function parse(body)
        local inner = (body or ""):match('^%s*{%s*"servers"%s*:%s*{(.-)}%s*}%s*$')
        if inner == nil then
            return nil, 'body must be {"servers": {"ADDR": WEIGHT, ...}}'
        end
        local weights, pos = {}, 1
        if inner:match("^%s*$") then
            return weights
        end
        while true do
            local _, last, addr, weight = inner:find('^%s*"([^"]+)"%s*:%s*(%d+)%s*', pos)
            if last == nil then
                return nil, "servers must map addresses to non-negative integers"
            end
            weights[addr] = tonumber(weight)
            pos = last + 1
            if pos > #inner then
                return weights
            end
            if inner:sub(pos, pos) ~= "," then
                return nil, "servers must map addresses to non-negative integers"
            end
            pos = pos + 1
        end
    end

    function pd.admin()
        local name = ngx.var.uri:match("^/upstreams/([^/]+)$")
        if name == nil or pd.declared[name] == nil then
            return reply(404, '{"error": "no such upstream"}')
        end
        local method = ngx.req.get_method()
        if method == "GET" then
            return reply(200, state_json(name))
        end
        if method ~= "PUT" then
            return reply(405, '{"error": "use GET or PUT"}')
        end
        ngx.req.read_body()
        local wanted, err = parse(ngx.req.get_body_data())
        if wanted == nil then
            return reply(400, '{"error": "' .. err .. '"}')
        end
        local weights = decode(dict:get(name))
        for addr, weight in pairs(wanted) do
            if weights[addr] == nil then
                local shown = addr:gsub('[^%w%.:%[%]]', '?')
                return reply(400, '{"error": "' .. shown .. ' is not a server of ' .. name .. '"}')
            end
            weights[addr] = weight
        end
        -- one write: every worker sees all weights change at once
        dict:set(name, encode(name, weights))
        return reply(200, state_json(name))
    end

    return pd
end

return M
